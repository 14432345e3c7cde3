"""``python -m viterbo.atlas`` = the ``atlas`` command."""

from viterbo.atlas.cli import main

if __name__ == "__main__":
    main()
