"""The client side: submit images for recognition and read results and attempt history.

Never imports TensorFlow.
"""
