"""The Nightshift promotion bot: discover, decide, plan, edit, gate, write, report."""
