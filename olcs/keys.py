"""How an API key begins (`olcs_<public>_<secret>`): the key's mint and the HTTP edge, which
refuses request ids shaped like keys, read the one mark."""

KEY_PREFIX_MARK = "olcs"
