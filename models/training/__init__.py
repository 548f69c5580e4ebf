"""Training data and training: stroke data, the handwriting synthesiser, fonts, Unknown and
incomplete samples, the sample generator the trainer calls, and CASIA-HWDB .gnt files."""
