file(REMOVE_RECURSE
  "libwscore.a"
)
