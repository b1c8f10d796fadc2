"""Configs of the transfer studies (experiments/transfer_study.py): one file per pair."""
