"""Everything that speaks to Gameball: the one HTTP session, its wire models, Gameball's codes
and what they mean, and whether Gameball can be reached at all."""
