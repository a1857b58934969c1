"""WSGI entry point: `gunicorn app:app`; `python app.py` runs the dev server."""
from mmservice import create_app
from mmservice.gc_tuning import freeze_startup_objects

app = create_app()
freeze_startup_objects()  # each gunicorn worker imports this after its fork

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
