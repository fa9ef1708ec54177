"""`python -m publish`: build lessons/ from solutions/ and the student bundle."""
from publish.cli import main

main()
