"""Planning domains, each behind one interface."""
