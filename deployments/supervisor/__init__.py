"""Agent supervisor: a LangGraph StateGraph driving the other stages."""
