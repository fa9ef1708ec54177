"""`python -m autograder`: the instructor's grade command."""
from autograder.cli import main

main()
