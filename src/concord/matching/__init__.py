"""Identity matching: exact business keys now; probabilistic scoring, merge and review build on them."""
