"""`accelbench validate`: re-derive every verdict of a submission tree from its files alone."""
