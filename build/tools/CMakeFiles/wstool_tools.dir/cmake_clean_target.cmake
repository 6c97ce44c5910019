file(REMOVE_RECURSE
  "libwstool_tools.a"
)
