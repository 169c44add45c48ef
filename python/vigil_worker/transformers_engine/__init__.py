"""A transformers (Hugging Face) engine for vigil: see engine.py.

    python3 -m vigil_worker.transformers_engine --checkpoint DIR   # as vigil serve --worker-command
"""
