"""Writers' helpers: CSV formula escaping, the paper-vs-measured plot, paper-table rendering."""
