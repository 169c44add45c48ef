"""Entry point: `python3 -m vigil_worker.transformers_engine --checkpoint DIR`,
the command to give `vigil serve --worker-command`."""
import vigil_worker
from vigil_worker.transformers_engine.engine import TransformersEngine

if __name__ == "__main__":
    vigil_worker.run(TransformersEngine())
