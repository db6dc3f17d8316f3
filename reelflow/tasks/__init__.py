"""Job bodies: plain async functions taking ids, registered under stable names.

Never imports rq or prefect, so that RQ workers and Prefect flows run the same code.
"""
