"""What is asked of a trained model, run folder or export alike: evaluation (`cnn evaluate`,
`cnn predict`), attacks, explanations, visualization and report.html.

It uses the pipelines' framework (pipelines.core, engine, extensions) and serving's export
format, never a domain; neither pipelines nor serving import it (docs/ARCHITECTURE.md).
"""
