"""Context-free grammar constraints: Lark/GBNF front ends → `ir.CFG` → incremental engine."""
