"""Report library: tables, findings, figures, sample grids and the HTML page, from result records."""
