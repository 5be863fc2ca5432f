"""The Textual chat app behind ``assistant chat``. Nothing here imports llama_cpp or torch at
import time; the model loads in a worker after the first paint."""
