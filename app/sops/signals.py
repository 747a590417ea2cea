"""What the SOP library announces, so that higher layers can follow without sops importing them."""
from blinker import Namespace

signals = Namespace()
# Inside the sync's transaction, once every SOP is applied: data that must change atomically with the
# content (who must acknowledge what) follows here.
applied = signals.signal("sops-applied")
# After a sync has been committed, so that derived data (the search index) can follow.
synced = signals.signal("sops-synced")
# A signed-in user opened a revision (sender: the app; user_id, revision_id). The one GET side effect.
viewed = signals.signal("sop-viewed")
