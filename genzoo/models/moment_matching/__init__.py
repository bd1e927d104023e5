"""Moment-matching networks: GMMN and GMMN+AE (Li et al. 2015)."""
