"""`python -m autograder`: the instructor's release and grade commands."""
from autograder.cli import main

main()
