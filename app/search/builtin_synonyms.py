"""Synonyms that ship with the portal, and the rules by which content/search/synonyms.txt adds to them.

Source: written by hand for SOP Portal (issue #14) from the words staff use for the same thing in hotel front
office, IT help desk, customer service and finance procedures (the wording of our own SOPs and of the
questions in the search log). It is not copied from a thesaurus. Each line is one group of words that mean
the same thing in these trades; a word may sit in more than one group, and groups are not chained (a word
finds the words of its own groups only).

The content file (content/search/synonyms.txt), one line each:
    词1 词2 词3      a group: these words find each other (added to the built-in groups)
    !词1 词2         these words leave every built-in group they are in (then give them groups of your own)
    # …             a comment
Separators: spaces, commas (, ，) or semicolons. Traditional script is folded to Simplified.
"""
import re

BUILTIN = """
# IT
电脑 计算机 主机 pc
笔记本 笔记本电脑 手提电脑
中毒 病毒 木马 恶意软件
关机 关闭 停机
开机 启动
重启 重新启动
死机 卡死 无响应
断网 网络中断 掉线
密码 口令
重置 重设
账号 账户 帐号 用户名
显示器 屏幕
# hotel front office
客人 顾客 宾客 住客
退房 离店 结账离店
入住 登记入住 入住登记
押金 预授权 订金
预订 预定 订房
房卡 门卡 钥匙卡
前台 总台 接待处
夜审 夜间审核
加床 加铺
叫醒 唤醒 叫早
# customer service
投诉 客诉 抱怨
退款 退费 退钱
赔偿 补偿
热线 客服电话 服务热线
工单 服务单
# finance
发票 票据 开票
报销 费用报销
备用金 零用金
收据 收款凭证
应收 应收账款
应付 应付账款
对账 核对账目
"""

SPLIT = re.compile(r"[\s,，;；]+")


def parse(text: str) -> tuple[list[list[str]], set[str]]:
    """(groups, words withdrawn from the built-in list) of a synonyms file's text, words as typed."""
    groups, withdrawn = [], set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("!"):
            withdrawn.update(w for w in SPLIT.split(line[1:]) if w)
            continue
        words = [w for w in SPLIT.split(line) if w]
        if len(words) > 1:
            groups.append(words)
    return groups, withdrawn


def combine(content: str, fold) -> dict[str, set[str]]:
    """word → every word it finds (itself included), from the built-in list and the content file's text.
    fold is analysis.fold, so Traditional and full-width spellings in either list work."""
    own, withdrawn = parse(content)
    withdrawn = {fold(w) for w in withdrawn}
    builtin, _ = parse(BUILTIN)
    out: dict[str, set[str]] = {}
    for group in [[fold(w) for w in g] for g in builtin]:
        group = [w for w in group if w not in withdrawn]
        for w in group:
            out.setdefault(w, set()).update(group)
    for group in [[fold(w) for w in g] for g in own]:
        for w in group:
            out.setdefault(w, set()).update(group)
    return {w: found for w, found in out.items() if len(found) > 1}
