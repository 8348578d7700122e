"""Generic neural building blocks shared by the backbones and the retriever."""
