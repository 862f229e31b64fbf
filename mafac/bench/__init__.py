"""`mafac bench`: a grid of algorithms x maps x seeds, each cell one `train_run`, resumable."""
