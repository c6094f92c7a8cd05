"""Dispensing: syringe pumps (Cavro DT protocol), an analytical balance (MT-SICS), recipes."""
