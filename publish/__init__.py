"""From solutions/ to what students get: the released lessons/ (nbgrader) and the verified student bundle."""
