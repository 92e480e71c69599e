"""Users, tokens and the access policy that every interface goes through."""
