"""The tree-buf codec: records shredded into typed columns, each chunk encoded its own best way."""
