"""Learn a musician's style from their own pieces (``tunesmith learn``)."""
