"""Circles of alumni (grade, class and interest circles): membership, applications and the
cohort circles made from the records. The directory side is identity.circles."""
