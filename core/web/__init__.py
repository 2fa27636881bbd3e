"""What every HTML view shares: who is asking, which project they may see, partial rendering."""
