"""Stages: one module per rule file, a function per rule (workflow/scripts/<rule>.py calls it)."""
