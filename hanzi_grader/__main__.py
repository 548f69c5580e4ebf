from hanzi_grader.cli import main

main()
