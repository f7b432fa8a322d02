"""libphonenumber's metadata compiled into digit automata: phonenumbers' answers, vectorized."""
