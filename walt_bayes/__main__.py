"""``python -m walt_bayes``: the same command as ``walt-bayes``."""

from walt_bayes.cli import main

if __name__ == "__main__":
    main()
