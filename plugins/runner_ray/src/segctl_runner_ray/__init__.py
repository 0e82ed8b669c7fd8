"""segctl-runner-ray: the ``ray`` runner (``runner=ray``), see docs/scale-out.md."""
