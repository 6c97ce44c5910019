# Empty compiler generated dependencies file for wstool_tools.
# This may be replaced when dependencies are built.
