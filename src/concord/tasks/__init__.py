"""Exception tasks: a system refused a workflow's data, a person corrects it, the workflow resumes."""
