from dita.cli import main

main()
