"""Sym's `aws_lambda` integration: it has no local meaning in SymTUI; every call raises SymException (fail closed).

Grant such access with a `command` or `http` strategy, or call the service from a handler yourself.
"""

from sym.sdk.exceptions import AWSLambdaError
from sym.sdk.integrations._unsupported import install

install(__name__, "aws_lambda", ("invoke", "invoke_async", ), AWSLambdaError)
