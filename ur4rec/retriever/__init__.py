"""The user-preference retriever of UR4Rec (paper section 3.2): masks, blocks, proxies, variants."""
from ur4rec.retriever.model import RETRIEVERS, Retriever  # noqa: F401
