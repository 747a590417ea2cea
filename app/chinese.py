"""Traditional → Simplified Chinese (OpenCC t2s), shared by search (folding) and tags. Knows no feature."""
from functools import lru_cache

from opencc import OpenCC

T2S = OpenCC("t2s")


@lru_cache(maxsize=4096)
def simplified(text: str) -> str:
    """The Simplified spelling: a tag written 會員 in a Hong Kong SOP and 会员 elsewhere is one tag, 会员."""
    return T2S.convert(text)
