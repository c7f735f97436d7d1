from petit.cli import main

main()
