"""coachctl: drive and inspect the coaching platform from a terminal."""
