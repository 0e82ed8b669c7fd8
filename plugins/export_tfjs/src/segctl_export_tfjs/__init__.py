"""segctl plugin: TensorFlow.js graph models (``<stem>_web_model/``)."""
