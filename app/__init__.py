"""Package Builder BFF: a FastAPI backend-for-frontend over the Package Builder API."""
