// The message parser (RFC 3261 §7, §25): start line, header unfolding, typed header grammars.
